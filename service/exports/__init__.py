"""What users take home: per-candidate bundles (JSON spec, safetensors, .pt2, ONNX, standalone .py)
and zips of whole fronts."""
