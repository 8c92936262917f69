"""Reading the world: ILSVRC trees, devkits, Kaggle CSVs and images."""
