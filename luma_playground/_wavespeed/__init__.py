"""WaveSpeedAI's API: the client, its wire, retries, pacing, transfers, polling and callbacks."""
