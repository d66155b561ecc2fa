"""Jobs: long operations (deletions, imports, builds, prunes) that a user can follow."""
