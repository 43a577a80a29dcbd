"""Events from the three sources ringback listens to (Webitel, website widgets, the agent
desktop), the normalised form they are logged in, and the pure projections built from them."""
