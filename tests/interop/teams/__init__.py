"""Teams through the hub against real peers."""
