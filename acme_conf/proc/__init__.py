"""The processes of a chain: the parent (main) and one module per child role."""
