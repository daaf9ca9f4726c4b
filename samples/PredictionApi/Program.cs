// A minimal ASP.NET Core API that loads a HybridSeq checkpoint once and serves next-token predictions on localhost.
// Built from the HybridSeq NuGet packages (samples/).
//
//   dotnet run --project samples/PredictionApi -- --checkpoint DIR/model.ckpt [--port 5080]
//
//   GET  /model     the loaded model: family, vocabulary, task, limits
//   POST /predict   {"tokens": [[1, 0, 3, ...], ...]}: B rows of equal length L of token ids in [0, V)
//                   -> {"nextTokens": [...], "probabilities": [...]}: per row, the arg-max next token after the row
//                   and its softmax probability
//
// Bad requests get a 4xx with a message naming what was wrong, never a crash: invalid JSON, a wrong shape (no
// "tokens", not an array of arrays, rows of different lengths, empty rows), a wrong type (a token that is not an
// integer), a token outside the vocabulary (400); more rows or tokens than the limits, or a body over 1 MiB (413);
// a body that is not JSON (415).
using System.Text.Encodings.Web;
using System.Text.Json;
using HybridSeq.Managed;
using HybridSeq.Models;
using HybridSeq.Models.Training;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using PredictionApi;
using static TorchSharp.torch;

CpuThreading.ApplyWaitPolicyDefault();  // first thing: bounds OpenMP spinning before libtorch loads its pool

var builder = WebApplication.CreateBuilder(args);
string? checkpoint = builder.Configuration["checkpoint"];
if (string.IsNullOrWhiteSpace(checkpoint))
{
    Console.Error.WriteLine("usage: PredictionApi --checkpoint FILE [--port PORT]");
    return 1;
}
// Loopback only (a sample, not a public server); port 0 lets the system pick a free one, printed once listening.
string portText = builder.Configuration["port"] ?? "5080";
if (!int.TryParse(portText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture,
        out int port) || port > 65535)
{
    Console.Error.WriteLine($"error: --port must be an integer in [0, 65535], got '{portText}'.");
    return 1;
}
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Limits.MaxRequestBodySize = PredictionLimits.MaxBodyBytes;
    kestrel.Listen(System.Net.IPAddress.Loopback, port);
});
// Messages quote the request ("got the string \"b\""): keep quotes readable instead of \u0022 (a JSON API, no HTML).
builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping);

LanguageModel model;
CheckpointMetadata metadata;
try
{
    (metadata, model) = RunCheckpoint.LoadLanguageModel(checkpoint, CPU);
}
catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException)
{
    Console.Error.WriteLine($"error: cannot load the model: {e.Message}");
    return 1;
}
// Loaded once; one request at a time uses it (TorchSharp modules are not meant for concurrent forwards).
var predictor = new Predictor(model);
builder.Services.AddSingleton(predictor);

var app = builder.Build();
app.Lifetime.ApplicationStarted.Register(() =>
{
    // The bound addresses (also with port 0, where Kestrel picks a free one): run-samples.sh reads this line.
    var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
    Console.WriteLine($"PredictionApi listening on {string.Join(' ', addresses ?? [])}");
});
app.Lifetime.ApplicationStopped.Register(predictor.Dispose);

app.MapGet("/model", () => Results.Ok(new
{
    family = metadata.ModelFamily,
    vocabularySize = model.VocabularySize,
    task = metadata.TaskName,
    trainedSteps = metadata.CompletedSteps,
    maxRows = PredictionLimits.MaxRows,
    maxTokensPerRow = PredictionLimits.MaxTokensPerRow,
    maxBodyBytes = PredictionLimits.MaxBodyBytes,
}));

app.MapPost("/predict", async (HttpRequest request, Predictor predictor, CancellationToken cancel) =>
{
    if (!request.HasJsonContentType())
        return Error(StatusCodes.Status415UnsupportedMediaType,
            $"expected Content-Type application/json, got '{request.ContentType ?? "none"}'");
    if (request.ContentLength > PredictionLimits.MaxBodyBytes)
        return Error(StatusCodes.Status413PayloadTooLarge,
            $"the body may hold at most {PredictionLimits.MaxBodyBytes} bytes, got {request.ContentLength}");
    JsonDocument document;
    try
    {
        document = await JsonDocument.ParseAsync(request.Body, cancellationToken: cancel);
    }
    catch (JsonException e)
    {
        return Error(StatusCodes.Status400BadRequest, $"the body is not valid JSON: {e.Message}");
    }
    catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
    {
        return Error(StatusCodes.Status413PayloadTooLarge,
            $"the body may hold at most {PredictionLimits.MaxBodyBytes} bytes");
    }
    using (document)
    {
        var parsed = TokenRequest.Parse(document.RootElement, model.VocabularySize);
        if (parsed.Error is { } error) return Error(error.Status, error.Message);
        var (nextTokens, probabilities) = await predictor.PredictAsync(parsed.Tokens!, cancel);
        return Results.Ok(new { nextTokens, probabilities });
    }
});

app.Run();
return 0;

static IResult Error(int status, string message) =>
    Results.Problem(statusCode: status, title: "Invalid prediction request", detail: message);

namespace PredictionApi
{
    /// <summary>What one request may ask for.</summary>
    public static class PredictionLimits
    {
        public const int MaxRows = 16;
        public const int MaxTokensPerRow = 2048;
        public const long MaxBodyBytes = 1 << 20;
    }

    /// <summary>A request that failed validation: the status to answer and the message.</summary>
    public sealed record RequestError(int Status, string Message);

    /// <summary>The body of /predict: {"tokens": [[...], ...]}, validated into (B, L) token ids or an error.</summary>
    public sealed record TokenRequest(long[][]? Tokens, RequestError? Error)
    {
        public static TokenRequest Parse(JsonElement root, int vocabularySize)
        {
            static TokenRequest Fail(string message, int status = StatusCodes.Status400BadRequest) =>
                new(null, new RequestError(status, message));

            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("tokens", out var rows))
                return Fail($"expected an object {{\"tokens\": [[token ids], ...]}}, got a JSON {root.ValueKind.ToString().ToLowerInvariant()} without \"tokens\"");
            if (rows.ValueKind != JsonValueKind.Array)
                return Fail($"tokens: expected an array of rows (arrays of token ids), got a JSON {rows.ValueKind.ToString().ToLowerInvariant()}");
            int rowCount = rows.GetArrayLength();
            if (rowCount == 0) return Fail("tokens: expected at least one row, got an empty array");
            if (rowCount > PredictionLimits.MaxRows)
                return Fail($"tokens: at most {PredictionLimits.MaxRows} rows per request, got {rowCount}",
                    StatusCodes.Status413PayloadTooLarge);
            var result = new long[rowCount][];
            int r = 0;
            foreach (var row in rows.EnumerateArray())
            {
                if (row.ValueKind != JsonValueKind.Array)
                    return Fail($"tokens[{r}]: expected an array of token ids (tokens is (B, L)), got a JSON {row.ValueKind.ToString().ToLowerInvariant()}");
                int length = row.GetArrayLength();
                if (length == 0) return Fail($"tokens[{r}]: expected at least one token, got an empty row");
                if (length > PredictionLimits.MaxTokensPerRow)
                    return Fail($"tokens[{r}]: at most {PredictionLimits.MaxTokensPerRow} tokens per row, got {length}",
                        StatusCodes.Status413PayloadTooLarge);
                if (r > 0 && length != result[0].Length)
                    return Fail($"tokens: every row must have the same length (tokens is (B, L)); row 0 has {result[0].Length}, row {r} has {length}");
                var ids = new long[length];
                int t = 0;
                foreach (var token in row.EnumerateArray())
                {
                    if (token.ValueKind != JsonValueKind.Number || !token.TryGetInt64(out long id))
                        return Fail($"tokens[{r}][{t}]: expected an integer token id, got {Describe(token)}");
                    if (id < 0 || id >= vocabularySize)
                        return Fail($"tokens[{r}][{t}]: expected a token id in [0, {vocabularySize}), got {id}");
                    ids[t++] = id;
                }
                result[r++] = ids;
            }
            return new TokenRequest(result, null);
        }

        private static string Describe(JsonElement token) => token.ValueKind switch
        {
            JsonValueKind.Number => $"the number {token.GetRawText()}",
            JsonValueKind.String => $"the string {token.GetRawText()}",
            _ => $"a JSON {token.ValueKind.ToString().ToLowerInvariant()}",
        };
    }

    /// <summary>Holds the model loaded at start; runs one forward at a time.</summary>
    public sealed class Predictor(LanguageModel model) : IDisposable
    {
        private readonly SemaphoreSlim gate = new(1, 1);

        /// <summary>tokens (B, L), already validated -> per row the arg-max next token and its probability.</summary>
        public async Task<(long[] NextTokens, double[] Probabilities)> PredictAsync(long[][] tokens,
            CancellationToken cancel)
        {
            await gate.WaitAsync(cancel);
            try
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                int rows = tokens.Length, length = tokens[0].Length;
                var input = tensor(tokens.SelectMany(row => row).ToArray(), [rows, length], ScalarType.Int64);
                var last = model.forward(input)[.., -1].softmax(-1);   // (B, V)
                var (probability, index) = last.max(-1);
                return (index.data<long>().ToArray(), probability.to(ScalarType.Float64).data<double>().ToArray());
            }
            finally
            {
                gate.Release();
            }
        }

        public void Dispose()
        {
            model.Dispose();
            gate.Dispose();
        }
    }
}
