namespace AptLab.Torch;

/// <summary>An error raised inside libtorch (c10::Error or std::exception), carried across the shim.</summary>
public sealed class TorchException(string message) : Exception(message);
