"""Image sources: where images come from (the seed resource)."""
