// relink-token: mints a login token (../shared/spec/cli.md). Placeholder.
int main() { return 2; }
