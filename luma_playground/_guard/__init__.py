"""What the server's key lets through on a shared deployment: who a visitor is, limits, spend."""
