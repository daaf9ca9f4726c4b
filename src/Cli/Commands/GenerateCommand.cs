using System.ComponentModel;
using System.Globalization;
using HybridSeq.Models;
using HybridSeq.Models.Decoding;
using HybridSeq.Models.Seq2Seq;
using HybridSeq.Models.Tasks;
using HybridSeq.Models.Training;
using Spectre.Console;
using Spectre.Console.Cli;
using static TorchSharp.torch;

namespace HybridSeq.Cli.Commands;

/// <summary>
/// `hybridseq generate --checkpoint FILE`: draws a fresh example of the checkpoint's task and decodes it in step
/// mode. Without a search option it feeds the whole example and takes the arg-max at each answer position (the
/// task's own protocol); with --beam (beam search, diverse with --groups / --diversity) or --sample it continues a
/// prompt (by default the example up to its first answer position, so the first generated token is the task's
/// first answer; later tokens are the model's own continuation) and lists the hypotheses with their scores.
/// Loads the model only.
/// </summary>
public sealed class GenerateCommand(IAnsiConsole console) : Command<GenerateCommand.Settings>
{
    public sealed class Settings : CheckpointSettings
    {
        [CommandOption("--seed <N>")]
        [Description("Seed of the example and of --sample's draws. Default: a new one each run.")]
        public int? Seed { get; init; }

        [CommandOption("--length <N>")]
        [Description("Length of the example. Default: the task's training length.")]
        public int? Length { get; init; }

        [CommandOption("--beam <B>")]
        [Description("Beam search with B beams (B = 1 is greedy decoding of the prompt's continuation).")]
        public int? Beam { get; init; }

        [CommandOption("--groups <G>")]
        [Description("With --beam: diverse beam search with G groups of B / G beams (G divides B). Default: 1.")]
        public int? Groups { get; init; }

        [CommandOption("--diversity <LAMBDA>")]
        [Description("With --beam: diversity strength λ >= 0 of diverse beam search. Default: 0.5 when --groups > 1.")]
        public double? Diversity { get; init; }

        [CommandOption("--diversity-kind <KIND>")]
        [Description("With --beam: hamming or cumulative diversity. Default: hamming.")]
        public string? DiversityKind { get; init; }

        [CommandOption("--diversity-temperature <GAMMA>")]
        [Description("With --diversity-kind cumulative: the temperature Γ > 0 of the back-off exp(-d / Γ). Default: 1.")]
        public double? DiversityTemperature { get; init; }

        [CommandOption("--length-penalty <ALPHA>")]
        [Description("With --beam: scores are sum(log p) / length^α. Default: 1 (mean log-probability per token).")]
        public double? LengthPenalty { get; init; }

        [CommandOption("--no-repeat-ngram <N>")]
        [Description("With --beam: no n-gram of this size occurs twice in a hypothesis. Default: 0 (off).")]
        public int? NoRepeatNgram { get; init; }

        [CommandOption("--sample")]
        [Description("Sample the continuation (seeded by --seed) instead of searching.")]
        public bool Sample { get; init; }

        [CommandOption("--temperature <T>")]
        [Description("With --sample: divide the logits by T > 0. Default: 1.")]
        public double? Temperature { get; init; }

        [CommandOption("--top-k <K>")]
        [Description("With --sample: keep the K most likely tokens. Default: 0 (off).")]
        public int? TopK { get; init; }

        [CommandOption("--top-p <P>")]
        [Description("With --sample: keep the smallest set of most likely tokens of probability >= P, in (0, 1]. Default: 1 (off).")]
        public double? TopP { get; init; }

        [CommandOption("--repetition-penalty <R>")]
        [Description("With --sample: CTRL's penalty r > 0 for tokens already seen. Default: 1 (off).")]
        public double? RepetitionPenalty { get; init; }

        [CommandOption("--n-best <N>")]
        [Description("With --beam: hypotheses to list (per group with --groups), at most the beams per group; with --sample: samples to draw. Default: 1.")]
        public int? NBest { get; init; }

        [CommandOption("--max-tokens <N>")]
        [Description("With --beam or --sample: most tokens to generate. Default: the task's answer length.")]
        public int? MaxTokens { get; init; }

        [CommandOption("--min-tokens <N>")]
        [Description("With --beam or --sample and --end-token: tokens before the end token may come. Default: 0.")]
        public int? MinTokens { get; init; }

        [CommandOption("--end-token <ID>")]
        [Description("With --beam or --sample: the end-of-sequence token id. Default: none (generate --max-tokens).")]
        public long? EndToken { get; init; }

        [CommandOption("--prompt <IDS>")]
        [Description("With --beam or --sample: the prompt as token ids, e.g. \"3 1 4\" or 3,1,4. Default: the example up to its first answer position.")]
        public string? Prompt { get; init; }

        private const int MaxBeams = 256, MaxGenerated = 4096;

        /// <summary>Whether a search option asks for free-running decoding of a prompt.</summary>
        public bool Continues => Beam.HasValue || Sample;

        /// <summary>The prompt ids of --prompt; null when not given. Validate reports a malformed one.</summary>
        public long[]? PromptIds => Prompt is null ? null : ParsePrompt(Prompt, out _);

        public override ValidationResult Validate()
        {
            if (Length is <= 0) return ValidationResult.Error($"--length must be a positive integer, got {Length}.");
            if (Beam.HasValue && Sample)
                return ValidationResult.Error("--beam and --sample exclude each other: search or sample.");
            (string Name, bool Given)[] beamOnly =
            [
                ("--groups", Groups.HasValue), ("--diversity", Diversity.HasValue), ("--diversity-kind", DiversityKind is not null),
                ("--diversity-temperature", DiversityTemperature.HasValue), ("--length-penalty", LengthPenalty.HasValue),
                ("--no-repeat-ngram", NoRepeatNgram.HasValue),
            ];
            if (!Beam.HasValue && beamOnly.FirstOrDefault(o => o.Given) is { Name: string beamOption })
                return ValidationResult.Error($"{beamOption} applies to --beam only.");
            (string Name, bool Given)[] sampleOnly =
            [
                ("--temperature", Temperature.HasValue), ("--top-k", TopK.HasValue), ("--top-p", TopP.HasValue),
                ("--repetition-penalty", RepetitionPenalty.HasValue),
            ];
            if (!Sample && sampleOnly.FirstOrDefault(o => o.Given) is { Name: string sampleOption })
                return ValidationResult.Error($"{sampleOption} applies to --sample only.");
            (string Name, bool Given)[] continuationOnly =
            [
                ("--n-best", NBest.HasValue), ("--max-tokens", MaxTokens.HasValue), ("--min-tokens", MinTokens.HasValue),
                ("--end-token", EndToken.HasValue), ("--prompt", Prompt is not null),
            ];
            if (!Continues && continuationOnly.FirstOrDefault(o => o.Given) is { Name: string continuationOption })
                return ValidationResult.Error($"{continuationOption} applies to --beam or --sample only.");

            if (Beam is < 1) return ValidationResult.Error($"--beam must be a positive integer, got {Beam}.");
            // Bounds that keep a typo (an extra digit) from running for hours; the library itself has none.
            if (Beam is > MaxBeams) return ValidationResult.Error($"--beam must be at most {MaxBeams}, got {Beam}.");
            if (MaxTokens is > MaxGenerated) return ValidationResult.Error($"--max-tokens must be at most {MaxGenerated}, got {MaxTokens}.");
            int groups = Groups ?? 1;
            if (Groups is < 1) return ValidationResult.Error($"--groups must be a positive integer, got {Groups}.");
            if (Beam is int beams && beams % groups != 0)
                return ValidationResult.Error($"--groups must divide --beam = {beams}, got {groups}.");
            if (Diversity is double lambda && !(double.IsFinite(lambda) && lambda >= 0))
                return ValidationResult.Error($"--diversity must be a finite number >= 0, got {Diversity}.");
            if (DiversityKind is not null and not ("hamming" or "cumulative"))
                return ValidationResult.Error($"--diversity-kind must be 'hamming' or 'cumulative', got '{DiversityKind}'.");
            if (DiversityTemperature is double gamma && !(double.IsFinite(gamma) && gamma > 0))
                return ValidationResult.Error($"--diversity-temperature must be a finite number > 0, got {DiversityTemperature}.");
            if (DiversityTemperature.HasValue && DiversityKind != "cumulative")
                return ValidationResult.Error("--diversity-temperature applies to --diversity-kind cumulative only.");
            if (LengthPenalty is double alpha && !double.IsFinite(alpha))
                return ValidationResult.Error($"--length-penalty must be a finite number, got {LengthPenalty}.");
            if (NoRepeatNgram is < 0) return ValidationResult.Error($"--no-repeat-ngram must be 0 (off) or positive, got {NoRepeatNgram}.");
            if (Temperature is double t && !(double.IsFinite(t) && t > 0))
                return ValidationResult.Error($"--temperature must be a finite number > 0, got {Temperature}.");
            if (TopK is < 0) return ValidationResult.Error($"--top-k must be 0 (off) or positive, got {TopK}.");
            if (TopP is double p && !(p > 0 && p <= 1))
                return ValidationResult.Error($"--top-p must be in (0, 1], got {TopP}.");
            if (RepetitionPenalty is double r && !(double.IsFinite(r) && r > 0))
                return ValidationResult.Error($"--repetition-penalty must be a finite number > 0, got {RepetitionPenalty}.");
            if (NBest is < 1) return ValidationResult.Error($"--n-best must be a positive integer, got {NBest}.");
            if (Beam is int b && NBest is int n && n > b / groups)
                return ValidationResult.Error($"--n-best must be at most the beams per group ({b / groups}), got {n}.");
            if (Sample && NBest is > 1024) return ValidationResult.Error($"--n-best must be at most 1024 samples, got {NBest}.");
            if (MaxTokens is < 1) return ValidationResult.Error($"--max-tokens must be a positive integer, got {MaxTokens}.");
            if (MinTokens is < 0) return ValidationResult.Error($"--min-tokens must be 0 or positive, got {MinTokens}.");
            if (MinTokens is int least && MaxTokens is int most && least > most)
                return ValidationResult.Error($"--min-tokens must be at most --max-tokens = {most}, got {least}.");
            if (MinTokens.HasValue && !EndToken.HasValue)
                return ValidationResult.Error("--min-tokens needs --end-token (it delays the end token).");
            if (EndToken is < 0) return ValidationResult.Error($"--end-token must be a token id >= 0, got {EndToken}.");
            if (Prompt is not null && ParsePrompt(Prompt, out string? promptError) is null)
                return ValidationResult.Error(promptError!);
            return base.Validate();
        }

        /// <summary>Token ids separated by spaces or commas; null (and the reason) when malformed or empty.</summary>
        private static long[]? ParsePrompt(string text, out string? error)
        {
            var parts = text.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var ids = new long[parts.Length];
            for (int i = 0; i < parts.Length; i++)
            {
                if (!long.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out ids[i]))
                {
                    error = $"--prompt must be token ids (non-negative integers) separated by spaces or commas, got '{parts[i]}' in '{text}'.";
                    return null;
                }
            }
            error = ids.Length == 0 ? $"--prompt must hold at least one token id, got '{text}'." : null;
            return ids.Length == 0 ? null : ids;
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var device = DeviceOption.Resolve(settings.Device);
        var (metadata, model) = RunCheckpoint.LoadModel(settings.Checkpoint, device);
        using (model)
        {
            var anyTask = metadata.ReadTask();
            if (anyTask is ISeq2SeqTask seq2seqTask && model is Seq2SeqModel seq2seqModel)
                return GenerateSeq2Seq(seq2seqTask, seq2seqModel, settings);
            if (anyTask is not ISequenceTask task || model is not LanguageModel languageModel)
                throw new InvalidOperationException(
                    $"generate decodes token tasks with a language model; the checkpoint {settings.Checkpoint} holds a {metadata.ModelFamily} model on {metadata.TaskName} ({metadata.TaskKind}): use eval.");
            int seed = settings.Seed ?? Random.Shared.Next();
            var example = task.SampleExamples(1, seed, settings.Length)[0];
            var render = Renderer(task);
            console.MarkupLineInterpolated($"example seed {seed}, length {example.Inputs.Length}; {render.Legend}");
            console.MarkupLineInterpolated($"input:    {render.Render(example.Inputs)}");
            console.MarkupLineInterpolated($"expected: {render.Render(example.Answer)}");

            using var scope = NewDisposeScope();
            if (!settings.Continues)
            {
                var inputs = tensor(example.Inputs, [1, example.Inputs.Length], ScalarType.Int64).to(device);
                long[] produced = task.DecodeAnswers(languageModel, inputs).cpu().data<long>().ToArray();
                int correct = example.Answer.Zip(produced).Count(pair => pair.First == pair.Second);
                console.MarkupLineInterpolated($"produced: {render.Render(produced)}");
                console.MarkupLineInterpolated($"{correct}/{example.Answer.Length} answer tokens correct");
                return HybridSeqApp.ExitSuccess;
            }
            Continue(settings, languageModel, task, example, render, seed, device);
            return HybridSeqApp.ExitSuccess;
        }
    }

    /// <summary>A fresh example of a seq2seq task, decoded from its source greedily or with --beam B (the best
    /// hypothesis), at most (target length + 1) tokens.</summary>
    private int GenerateSeq2Seq(ISeq2SeqTask task, Seq2SeqModel model, Settings settings)
    {
        if (settings.Sample || settings.Prompt is not null || settings.Groups.HasValue || settings.Diversity.HasValue)
            throw new ArgumentException(
                "generate of a seq2seq checkpoint decodes the example's source greedily or with --beam B; --sample, --prompt, --groups and --diversity apply to token tasks.");
        int seed = settings.Seed ?? Random.Shared.Next();
        var example = task.SampleExamples(1, seed, settings.Length)[0];
        int beam = settings.Beam ?? 1;
        long[] produced = model.Decode([example.Source], example.Target.Length + 1, beam)[0];
        var totals = MetricTotals.For(task);
        Seq2SeqMetrics.Score([example], [produced], totals);
        console.MarkupLineInterpolated(
            $"example seed {seed}, {task.SizeName} {settings.Length?.ToString() ?? "drawn"}; digits 0-9, '+' plus, '$' end; {(beam == 1 ? "greedy decoding" : $"beam search, {beam} beams")}");
        console.MarkupLineInterpolated($"source:   {Seq2SeqVocabulary.Render(example.Source)}");
        console.MarkupLineInterpolated($"expected: {Seq2SeqVocabulary.Render(example.Target)}");
        console.MarkupLineInterpolated($"produced: {Seq2SeqVocabulary.Render(produced)}");
        console.MarkupLineInterpolated(System.Globalization.CultureInfo.InvariantCulture,
            $"{(totals.Value(0) == 1 ? "exact" : "not exact")}; {Math.Round(totals.Value(1) * example.Target.Length)}/{example.Target.Length} target tokens correct");
        return HybridSeqApp.ExitSuccess;
    }

    /// <summary>Beam search, diverse beam search or sampling of the prompt's continuation; lists the hypotheses.</summary>
    private void Continue(Settings settings, LanguageModel model, ISequenceTask task, TaskExample example,
        TokenRenderer render, int seed, Device device)
    {
        int vocabulary = model.VocabularySize;
        long[] prompt = settings.PromptIds ?? example.Inputs[..(example.Inputs.Length - task.AnswerLength + 1)];
        if (prompt.Where(id => id >= vocabulary).Select(id => (long?)id).FirstOrDefault() is long outside)
            throw new ArgumentException($"--prompt: token ids must be in [0, {vocabulary}) (the model's vocabulary), got {outside}.");
        if (settings.EndToken is long end && end >= vocabulary)
            throw new ArgumentException($"--end-token must be a token id in [0, {vocabulary}) (the model's vocabulary), got {end}.");
        int maxTokens = settings.MaxTokens ?? task.AnswerLength;
        if (settings.MinTokens is int minTokens && minTokens > maxTokens)
            throw new ArgumentException($"--min-tokens must be at most --max-tokens = {maxTokens}, got {minTokens}.");
        console.MarkupLineInterpolated($"prompt:   {render.Render(prompt)} ({prompt.Length} tokens)");

        int nBest = settings.NBest ?? 1;
        IReadOnlyList<Hypothesis> hypotheses;
        string method;
        if (settings.Sample)
        {
            var options = new SamplingOptions(maxTokens, settings.Temperature ?? 1.0, settings.TopK ?? 0, settings.TopP ?? 1.0,
                settings.RepetitionPenalty ?? 1.0, seed, settings.EndToken, settings.MinTokens ?? 0);
            // n samples of one prompt: n equal rows, which draw different samples (see SamplingOptions.Seed).
            var rows = tensor(Enumerable.Repeat(prompt, nBest).SelectMany(p => p).ToArray(), [nBest, prompt.Length]).to(device);
            hypotheses = Sampling.Generate(model, rows, options);
            method = string.Create(CultureInfo.InvariantCulture,
                $"sampling: temperature {options.Temperature}, top-k {options.TopK}, top-p {options.TopP}, repetition penalty {options.RepetitionPenalty}, seed {seed}");
        }
        else
        {
            int beams = settings.Beam!.Value, groups = settings.Groups ?? 1;
            var options = new BeamSearchOptions(beams, maxTokens, settings.MinTokens ?? 0, settings.LengthPenalty ?? 1.0,
                settings.EndToken, settings.NoRepeatNgram ?? 0, nBest);
            var input = tensor(prompt, [1, prompt.Length]).to(device);
            if (groups > 1 || settings.Diversity.HasValue)
            {
                var kind = settings.DiversityKind == "cumulative" ? Models.Decoding.DiversityKind.Cumulative : Models.Decoding.DiversityKind.Hamming;
                var diversity = new DiversityOptions(groups, settings.Diversity ?? 0.5, kind, settings.DiversityTemperature ?? 1.0);
                hypotheses = DiverseBeamSearch.Run(model, input, options, diversity)[0];
                method = string.Create(CultureInfo.InvariantCulture,
                    $"diverse beam search: {beams} beams in {groups} groups, {kind.ToString().ToLowerInvariant()} diversity λ = {diversity.Strength}");
            }
            else
            {
                hypotheses = BeamSearch.Run(model, input, options)[0];
                method = $"beam search: {beams} beams";
            }
            method += string.Create(CultureInfo.InvariantCulture, $", length penalty α = {options.LengthPenalty}");
        }

        console.MarkupLineInterpolated($"{method}; at most {maxTokens} tokens");
        for (int i = 0; i < hypotheses.Count; i++)
        {
            var h = hypotheses[i];
            string group = settings.Groups is > 1 ? $"group {h.Group}, " : "";
            string ending = h.EndedWithEndToken ? "end token" : "max tokens";
            console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                $"{i + 1,3}. {render.Render(h.Tokens)}  ({group}score {h.Score:F4}, log p {h.LogProbability:F4}, {h.Tokens.Length} tokens, {ending})");
        }
        if (hypotheses.Count == 0) console.MarkupLine("no complete hypothesis");
    }

    private sealed record TokenRenderer(string Legend, Func<IEnumerable<long>, string> Render);

    /// <summary>One character per token where the vocabulary fits the alphabet, else space-separated ids.</summary>
    private static TokenRenderer Renderer(ISequenceTask task) => task switch
    {
        CopyingTask copying => new("blank '.', marker '|', data tokens A, B, ...", tokens =>
        {
            bool letters = copying.DataVocabulary <= 26;
            return string.Join(letters ? "" : " ", tokens.Select(token =>
                token == CopyingTask.BlankToken ? "."
                : token == copying.MarkerToken ? "|"
                : letters && token >= 1 && token <= copying.DataVocabulary ? ((char)('A' + token - 1)).ToString()
                : token.ToString()));
        }),
        InductionHeadsTask induction => new("trigger '|', other tokens a, b, ...", tokens =>
        {
            bool letters = induction.VocabularySize - 1 <= 26;
            return string.Join(letters ? "" : " ", tokens.Select(token =>
                token == induction.TriggerToken ? "|"
                : letters ? ((char)('a' + token)).ToString()
                : token.ToString()));
        }),
        _ => new("token ids", tokens => string.Join(" ", tokens)),
    };
}
