using System.Runtime.InteropServices;

namespace AptLab.Tests.Engine;

/// <summary>The engine sets libgomp's wait policy to PASSIVE in the native environment before libtorch loads,
/// unless the process was started with one.</summary>
public partial class OpenMpPolicyTests
{
    [LibraryImport("libc.so.6", EntryPoint = "getenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr getenv(string name);

    [Fact]
    public void Wait_policy_is_passive_unless_the_environment_chose_one()
    {
        Assert.False(string.IsNullOrEmpty(torch.version));                      // the engine is loaded
        var given = Environment.GetEnvironmentVariable(OpenMpPolicy.Variable);
        var expected = string.IsNullOrEmpty(given) ? "PASSIVE" : given;
        Assert.Equal(expected, OpenMpPolicy.WaitPolicy);
        Assert.Equal(expected, Marshal.PtrToStringUTF8(getenv(OpenMpPolicy.Variable)));   // what libgomp read
    }
}
