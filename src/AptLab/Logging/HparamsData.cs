using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace AptLab.Logging;

/// <summary>
/// The hparams plugin's three metadata-only summaries (tags <c>_hparams_/experiment</c>,
/// <c>_hparams_/session_start_info</c>, <c>_hparams_/session_end_info</c>), each carrying a serialised
/// HParamsPluginData{version 1 = 0, experiment 2 | session_start_info 3 | session_end_info 4}.
/// Experiment{hparam_infos 4: HParamInfo{name 1, type 4}, metric_infos 5: MetricInfo{name 1: MetricName{tag 2}}};
/// SessionStartInfo{hparams 1: map&lt;string, google.protobuf.Value&gt;, start_time_secs 5};
/// SessionEndInfo{status 1 (1 = success), end_time_secs 2}.
/// </summary>
public static class HparamsData
{
    public const string PluginName = "hparams";
    public const string ExperimentTag = "_hparams_/experiment";
    public const string SessionStartTag = "_hparams_/session_start_info";
    public const string SessionEndTag = "_hparams_/session_end_info";

    /// <summary>Hyper-parameter values may be numbers, strings or booleans.</summary>
    public static IReadOnlyList<TbValue> Build(IReadOnlyDictionary<string, object> hparams, IEnumerable<string> metricTags, double wallTime)
    {
        var experiment = new ProtoWriter();
        var start = new ProtoWriter();
        foreach (var (name, value) in hparams)
        {
            var (pv, type) = value switch
            {
                string s => (Value.ForString(s), 1),
                bool b => (Value.ForBool(b), 2),
                IConvertible c when value is not char => (Value.ForNumber(c.ToDouble(System.Globalization.CultureInfo.InvariantCulture)), 3),
                _ => throw new ArgumentException($"hparam '{name}' has type {value.GetType().Name}; use a number, string or bool"),
            };
            experiment.Message(4, new ProtoWriter().String(1, name).Int32(4, type));
            start.Message(1, new ProtoWriter().String(1, name).Bytes(2, pv.ToByteArray(), always: true));   // map entry
        }
        foreach (var tag in metricTags) experiment.Message(5, new ProtoWriter().Message(1, new ProtoWriter().String(2, tag)));
        start.Double(5, wallTime);
        var end = new ProtoWriter().Int32(1, 1).Double(2, wallTime);
        return
        [
            MetadataOnly(ExperimentTag, new ProtoWriter().Message(2, experiment)),
            MetadataOnly(SessionStartTag, new ProtoWriter().Message(3, start)),
            MetadataOnly(SessionEndTag, new ProtoWriter().Message(4, end)),
        ];
    }

    private static TbValue MetadataOnly(string tag, ProtoWriter pluginData) =>
        new(tag) { Metadata = new TbPluginMetadata(PluginName, pluginData.ToArray()) };
}
