"""Chronicle's service kit: event store, aggregates, relay, consumers and projections."""
