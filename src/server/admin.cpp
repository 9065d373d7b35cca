// relinkd admin. Placeholder.
