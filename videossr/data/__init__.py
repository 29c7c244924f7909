"""Stage 2: frames folders -> verl data files (generation), the training mix (mix), resumable output (store)."""
