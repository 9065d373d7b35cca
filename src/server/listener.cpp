// relinkd listener. Placeholder.
