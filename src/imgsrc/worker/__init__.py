"""The job runner: claims jobs, keeps their leases alive, recovers the ones whose runner died."""
