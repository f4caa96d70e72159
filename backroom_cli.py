"""The `backroom` command's root: the one place allowed to import both hub and node."""
def main() -> None:
    from node.cli import main as node_main
    node_main()
