"""Harnesses for tests and benchmarks: throw-away databases, real server processes, whole dialogue stacks, valid
test identities and the held-out evaluation of the trained model. Production packages never import it."""
