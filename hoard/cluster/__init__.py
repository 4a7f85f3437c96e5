"""Several machines: the pure parts of a Hoard cluster (placement over nodes and zones, the
signing of requests between nodes, leases and fencing), below the stores and drives that use them."""
