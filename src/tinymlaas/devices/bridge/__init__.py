"""The bridge: runs beside the boards, talks serial to them and installs models on them."""
