// relinkd options. Placeholder.
