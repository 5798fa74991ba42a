using System.CommandLine;
using AptLab.Config;
using AptLab.Experiments;

namespace AptLab.Cli;

/// <summary>`aptlab plan CONFIG --gpus N --gpu-memory GB`: the per-GPU memory of the config's training run
/// (<see cref="MemoryPlan"/>, models built on the meta device; docs/precision-and-parallelism.md#memory-plan), whether
/// it fits, and if not why and the smallest N that does. Exit code 0 when it fits, 3 when it does not.</summary>
public static class PlanCommand
{
    public static Command Create()
    {
        var config = new Argument<string>("config") { Description = "experiment config (YAML, experiment: apt-wan, apt-omniavatar, omniavatar-finetune, omnihuman or apt-omnihuman)" };
        var gpus = new Option<int?>("--gpus") { Description = "number of GPUs (ranks; default: the config's apt.world_size)" };
        var memory = new Option<double>("--gpu-memory") { Description = "memory of one GPU in GB (1e9 bytes)", DefaultValueFactory = _ => 80 };
        var cmd = new Command("plan", "Per-GPU memory of a training config (meta-device build): parameters, gradients, optimizer, EMA, frozen models, activations");
        cmd.Arguments.Add(config);
        cmd.Options.Add(gpus);
        cmd.Options.Add(memory);
        cmd.SetAction(parse => Run(parse.GetValue(config)!, parse.GetValue(gpus), parse.GetValue(memory), Console.Out));
        return cmd;
    }

    public static int Run(string configPath, int? gpus, double gpuMemoryGb, TextWriter output)
    {
        try
        {
            var cfg = ConfigLoader.Load<ExperimentConfig>(configPath);
            if (MemoryPlan.AdoptTeacherRun(cfg) is { } recorded)
                output.WriteLine($"the teacher's architecture and segments: {recorded} (human.from)");
            int n = gpus ?? (cfg.Apt.WorldSize > 0 ? cfg.Apt.WorldSize : 1);
            if (gpuMemoryGb <= 0) throw new ArgumentException("aptlab plan: --gpu-memory must be > 0 (GB)");
            var plan = new MemoryPlan(cfg, n);
            output.Write(plan.Render(gpuMemoryGb));
            return plan.Fits((long)(gpuMemoryGb * 1e9)) ? 0 : 3;
        }
        catch (Exception e) when (CliErrors.IsUserError(e)) { return CliErrors.Report(e, userExitCode: 2); }
    }
}
