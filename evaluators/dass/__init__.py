"""DASS and DARTS: the one-shot network, the differentiable search and the sparse training evaluator."""
