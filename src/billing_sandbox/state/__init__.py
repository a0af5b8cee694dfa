"""State that outlives a request: snapshots of tenants, the state file, their JSON codec."""
