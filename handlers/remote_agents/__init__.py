"""Remote specialist agents, deployed and registered on their own (port 9081)."""
