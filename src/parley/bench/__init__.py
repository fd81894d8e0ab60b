"""``parley bench``: how fast two real nodes are on this machine, and the machine's floor."""
