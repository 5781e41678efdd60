"""Who is asking and how much they may: Bearer API keys and the rate limits per address and user."""
