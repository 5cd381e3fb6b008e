"""Exporting trained networks: safetensors weights, timm folders and ONNX files."""
