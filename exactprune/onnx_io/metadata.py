"""Keys exactprune stores in an ONNX model's metadata_props, and how values are encoded."""

KEY_VERSION = "exactprune.version"
KEY_DOMAIN = "exactprune.domain"  # JSON: {"lo": [...], "hi": [...], "source": str}
KEY_ACTIONS = "exactprune.actions"  # JSON: what was done to the model (list of strings / report)
KEY_PROOF = "exactprune.proof"  # JSON: the formal check of compress --prove (equivalent, bound, T)
