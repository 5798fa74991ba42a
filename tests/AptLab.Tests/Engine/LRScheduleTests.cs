using AptLab.Torch.optim;

namespace AptLab.Tests.Engine;

public class LRScheduleTests
{
    [Fact]
    public void Schedules_follow_their_closed_forms()
    {
        Assert.Equal(0.3, new LRSchedule.Constant().LearningRate(12345, 0.3));

        var warm = new LRSchedule.LinearWarmup(4);
        Assert.Equal(new[] { 0, 0.25, 0.5, 0.75, 1, 1 }, Enumerable.Range(0, 6).Select(s => warm.LearningRate(s, 1.0)));

        var cos = new LRSchedule.Cosine(WarmupSteps: 10, TotalSteps: 110, MinLr: 1e-5);
        double b = 1e-3;
        Assert.Equal(0.0, cos.LearningRate(0, b));
        Assert.Equal(b * 5 / 10, cos.LearningRate(5, b), 15);
        Assert.Equal(b, cos.LearningRate(10, b), 15);
        for (int s = 10; s <= 110; s += 7)
            Assert.Equal(1e-5 + (b - 1e-5) * 0.5 * (1 + Math.Cos(Math.PI * (s - 10) / 100.0)), cos.LearningRate(s, b), 15);
        Assert.Equal((b + 1e-5) / 2, cos.LearningRate(60, b), 15);               // half way: the mean of the two
        Assert.Equal(1e-5, cos.LearningRate(110, b), 15);
        Assert.Equal(1e-5, cos.LearningRate(5000, b), 15);                       // constant after the end
    }

    [Fact]
    public void Invalid_schedules_name_the_field()
    {
        Assert.Contains("TotalSteps", Assert.Throws<ArgumentException>(() => new LRSchedule.Cosine(10, 10).Validate()).Message);
        Assert.Contains("WarmupSteps", Assert.Throws<ArgumentException>(() => new LRSchedule.LinearWarmup(-1).Validate()).Message);
        Assert.Contains("MinLr", Assert.Throws<ArgumentException>(() => new LRSchedule.Cosine(0, 10, -1).Validate()).Message);
    }

    [Fact]
    public void Scheduler_sets_group_lrs_and_resumes()
    {
        using var _ = torch.NewScope();
        using var p = new Parameter(torch.ones(1));
        using var q = new Parameter(torch.ones(1));
        using var opt = new AdamW([new ParamGroup([p]), new ParamGroup([q], new Dictionary<string, double> { ["lr"] = 0.5 })], lr: 1.0);
        var schedule = new LRSchedule.Cosine(2, 10);
        var sched = new LRScheduler(opt, schedule);
        Assert.Equal(new[] { 0.0, 0.0 }, sched.get_last_lr());
        for (int s = 1; s <= 6; s++)
        {
            sched.step();
            Assert.Equal(schedule.LearningRate(s, 1.0), opt.param_groups[0].lr);
            Assert.Equal(schedule.LearningRate(s, 0.5), opt.param_groups[1].lr);
        }
        var saved = sched.state_dict();
        Assert.Equal(6, saved.LastStep);

        // A resumed run: a new optimizer (lr from its config) and scheduler pick up at step 6.
        using var opt2 = new AdamW([new ParamGroup([p]), new ParamGroup([q], new Dictionary<string, double> { ["lr"] = 0.5 })], lr: 1.0);
        var sched2 = new LRScheduler(opt2, schedule);
        sched2.load_state_dict(saved);
        Assert.Equal(opt.param_groups.Select(g => g.lr), opt2.param_groups.Select(g => g.lr));
        sched.step(); sched2.step();
        Assert.Equal(sched.get_last_lr(), sched2.get_last_lr());
        Assert.Throws<InvalidDataException>(() => sched2.load_state_dict(new LRSchedulerState(3, [1.0])));
    }
}
