"""Orders to the warehouse exactly once, split into picking orders; statuses back through the mapping table."""
