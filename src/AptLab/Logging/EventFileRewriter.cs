using AptLab.Torch.IO;

namespace AptLab.Logging;

/// <summary>
/// Truncates the TensorBoard event files of a run folder for a resume (<see cref="ResumePoint"/>): every value whose
/// (tag, step) the resume point drops is removed, events left without values are removed, and an incomplete last
/// record (a killed writer, a full disk) is cut off. Records that keep all their values are copied byte for byte; a
/// file is rewritten (atomically, under its own name, so TensorBoard's file order is kept) only when something changed.
/// </summary>
public static class EventFileRewriter
{
    /// <summary>Applies <paramref name="resume"/> to every event file in <paramref name="eventsDir"/>; returns how many
    /// values were dropped. A missing folder has nothing to truncate.</summary>
    public static int Truncate(string eventsDir, ResumePoint resume, Action<string>? warn = null)
    {
        if (!Directory.Exists(eventsDir)) return 0;
        int dropped = 0;
        foreach (var path in EventFileReader.FindEventFiles(eventsDir).Where(f => !AtomicFile.IsTempName(f)))
            dropped += TruncateFile(path, resume, warn);
        return dropped;
    }

    private static int TruncateFile(string path, ResumePoint resume, Action<string>? warn)
    {
        var kept = new List<byte[]>();
        int dropped = 0;
        bool tail = false;
        long readBytes = 0;
        using (var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        {
            foreach (var record in TfRecord.Read(s, path, tolerateTruncatedTail: true, warn: _ => tail = true))
            {
                readBytes += 16 + record.Length;
                TbEvent e;
                try { e = EventCodec.Decode(record); }
                catch (Google.Protobuf.InvalidProtocolBufferException ex) { throw new InvalidDataException($"{path}: a record is not an Event message: {ex.Message}", ex); }
                if (e.Values.Count == 0) { kept.Add(record); continue; }
                var values = e.Values.Where(v => resume.Keeps(v.Tag, e.Step)).ToList();
                dropped += e.Values.Count - values.Count;
                if (values.Count == e.Values.Count) kept.Add(record);
                else if (values.Count > 0) kept.Add(EventCodec.Encode(e with { Values = values }));
            }
            tail |= s.Length > readBytes;
        }
        if (dropped == 0 && !tail) return 0;
        if (tail) warn?.Invoke($"{path}: cut an incomplete last record");
        AtomicFile.Write(path, s => { foreach (var r in kept) TfRecord.Write(s, r); });
        return dropped;
    }
}
