"""Real Parley nodes on one machine, for the demo, the benchmark and end-to-end tests."""
