"""What a tenant is (one lazily seeded store per API), the tenants a server holds (least recently
used order, spill, reset), and their rendered answers."""
