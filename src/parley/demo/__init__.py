"""``parley demo``: two real nodes on this machine playing a scenario written as data."""
