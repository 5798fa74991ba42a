global using AptLab.Torch;
