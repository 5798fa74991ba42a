using System.CommandLine;
using System.CommandLine.Parsing;

namespace AptLab.Cli;

/// <summary>
/// `aptlab launch --nproc N [options] &lt;command&gt; [args...]`: starts N local ranks of this same aptlab with the
/// torchrun environment (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), prefixes
/// their output with "[rank k]", and stops every rank as soon as one fails, exiting with that rank's code.
/// Everything after the launch options (or after "--") is the command each rank runs. Across machines, run
/// the same line on each with --nnodes, --node-rank and the master's --master-addr/--master-port.
/// </summary>
public static class LaunchCommand
{
    public static Command Create()
    {
        var nproc = new Option<int>("--nproc") { Description = "ranks on this machine", DefaultValueFactory = _ => 1 };
        var nnodes = new Option<int>("--nnodes") { Description = "machines", DefaultValueFactory = _ => 1 };
        var nodeRank = new Option<int>("--node-rank") { Description = "this machine's index", DefaultValueFactory = _ => 0 };
        var addr = new Option<string>("--master-addr") { Description = "rank 0's address", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--master-port") { Description = "rendezvous port (default: a free one; required with --nnodes > 1)" };
        var timeout = new Option<double>("--timeout") { Description = "seconds before a silent peer is an error (APTLAB_DIST_TIMEOUT)" };
        var command = new Argument<string[]>("command") { Description = "the aptlab command each rank runs, with its arguments", Arity = ArgumentArity.ZeroOrMore };
        var cmd = new Command("launch", "Start N local ranks of a command for data-parallel training (torchrun conventions)")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        Option[] own = [nproc, nnodes, nodeRank, addr, port, timeout];
        foreach (var o in own) cmd.Options.Add(o);
        cmd.Arguments.Add(command);
        cmd.SetAction(parse =>
        {
            // The rank command is everything after launch's own options, in order (its options are not launch's).
            var (ownTokens, child) = Split(parse, own);
            if (child.Count == 0) { Console.Error.WriteLine("error: launch needs a command to run, e.g. aptlab launch --nproc 2 demo"); return 2; }
            parse = cmd.Parse(ownTokens);   // launch's options from its own tokens only (the command may reuse names)
            if (parse.Errors.Count > 0) { Console.Error.WriteLine($"error: {parse.Errors[0].Message}"); return 2; }
            var spec = new RankLauncher.Spec
            {
                NProc = parse.GetValue(nproc),
                NNodes = parse.GetValue(nnodes),
                NodeRank = parse.GetValue(nodeRank),
                MasterAddr = parse.GetValue(addr)!,
                MasterPort = parse.GetValue(port),
                TimeoutSeconds = parse.GetValue(timeout),
                Arguments = child,
            };
            try { return RankLauncher.Run(spec, Console.Out, Console.Error); }
            catch (ArgumentException e) { Console.Error.WriteLine($"error: {e.Message}"); return 2; }
        });
        return cmd;
    }

    // (launch's own tokens, the rank command): the command starts at the first token that is not a launch option.
    private static (List<string> own, List<string> child) Split(ParseResult parse, Option[] own)
    {
        var tokens = parse.Tokens;
        int i = 0;
        while (i < tokens.Count && !(tokens[i].Type == TokenType.Command && tokens[i].Value == "launch")) i++;
        int start = ++i;
        for (; i < tokens.Count; i++)
        {
            var t = tokens[i];
            if (t.Type == TokenType.DoubleDash) { i++; break; }
            var name = t.Value.Split('=', 2)[0];
            var o = own.FirstOrDefault(o => o.Name == name || o.Aliases.Contains(name));
            if (o is null) break;
            if (!t.Value.Contains('=')) i++;   // skip the option's value
        }
        var ownTokens = tokens.Skip(start).Take(Math.Min(i, tokens.Count) - start).Where(t => t.Type != TokenType.DoubleDash)
            .Select(t => t.Value).ToList();
        return (ownTokens, tokens.Skip(i).Select(t => t.Value).ToList());
    }
}
