"""Exporting trained networks: safetensors weights and the formats of ``nas export`` (timm
folders, ``torch.export`` programs, ONNX files and plugins' formats, see :mod:`.formats`)."""
