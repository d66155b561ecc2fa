"""Images: point-in-time imports and builds from image sources."""
