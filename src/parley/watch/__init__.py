"""The watch: who is answerable at each desk, how they are alerted and paged, and handovers."""
