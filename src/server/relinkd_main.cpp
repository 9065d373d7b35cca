// relinkd entry point. Placeholder.
int main() { return 2; }
