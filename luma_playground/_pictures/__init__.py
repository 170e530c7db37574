"""Pictures, from where a visitor sends them to a checked file ready to upload."""
