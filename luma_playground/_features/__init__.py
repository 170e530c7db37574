"""Work built on the start path: longer shots, batches, exports and prompt suggestions."""
