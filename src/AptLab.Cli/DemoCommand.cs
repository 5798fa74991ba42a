using System.CommandLine;
using AptLab.Examples;

namespace AptLab.Cli;

/// <summary>`aptlab demo`: the main job of a fresh machine (`make demo`).</summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var steps = new Option<int>("--steps") { Description = "training steps", DefaultValueFactory = _ => 600 };
        var seed = new Option<int>("--seed") { Description = "random seed", DefaultValueFactory = _ => 0 };
        var cmd = new Command("demo", "Run the built-in end-to-end demonstration");
        cmd.Options.Add(steps);
        cmd.Options.Add(seed);
        cmd.SetAction(parse =>
        {
            var result = SpiralClassifier.Train(parse.GetValue(steps), (ulong)parse.GetValue(seed), Console.Out);
            return result.FinalAccuracy > 0.9 ? 0 : 1;
        });
        return cmd;
    }
}
