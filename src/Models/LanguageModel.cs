using HybridSeq.Models.Decoding;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Models;

/// <summary>The hyper-parameters of one model family; a JSON-serialisable record stored in checkpoints, so a
/// checkpoint rebuilds exactly the model that wrote it (see <see cref="ModelFamilies"/>).</summary>
public interface IModelConfig
{
    /// <summary>The family name the registry builds this config with (mamba, lstm, gru, slstm).</summary>
    string Family { get; }

    /// <summary>Number of token ids; tokens are in [0, VocabularySize).</summary>
    int VocabularySize { get; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first field that is out of range.</summary>
    void Validate();
}

/// <summary>
/// What every model family offers the trainer, the tasks and the CLI: forward(tokens (Bt, L) int64) -> logits
/// (Bt, L, V) for training and evaluation, the step contract (<see cref="IStepModel"/>) for decoding, its config,
/// and the split of its parameters into weight-decayed and undecayed groups.
/// </summary>
public abstract class LanguageModel : nn.Module<Tensor, Tensor>, IStepModel
{
    protected LanguageModel(string name) : base(name)
    {
    }

    /// <summary>The config this model was built from.</summary>
    public abstract IModelConfig Config { get; }

    /// <summary>The family name (<see cref="IModelConfig.Family"/>).</summary>
    public string Family => Config.Family;

    public int VocabularySize => Config.VocabularySize;

    public abstract IDecodingState InitialState(long batch);

    public abstract (Tensor Logits, IDecodingState Next) Step(Tensor tokens, IDecodingState state);

    /// <summary>The device of the model's parameters (where its states and inputs must live).</summary>
    public Device ParameterDevice => parameters().First().device;

    /// <summary>The dtype of the model's parameters (the dtype of its states).</summary>
    public ScalarType ParameterDtype => parameters().First().dtype;

    /// <summary>Parameters that get weight decay (the matrices of the linear maps, convolutions and recurrences).</summary>
    public IEnumerable<Parameter> DecayedParameters() =>
        named_parameters().Where(p => IsDecayed(p.name)).Select(p => p.parameter);

    /// <summary>Every parameter that <see cref="DecayedParameters"/> leaves out.</summary>
    public IEnumerable<Parameter> UndecayedParameters() =>
        named_parameters().Where(p => !IsDecayed(p.name)).Select(p => p.parameter);

    /// <summary>Whether the parameter of this name gets weight decay; norms, biases and the (tied) embedding not.</summary>
    protected abstract bool IsDecayed(string parameterName);

    /// <summary>Checks forward's tokens: (Bt, L) int64 ids in the vocabulary.</summary>
    protected void CheckSequenceTokens(Tensor tokens) =>
        DecodingChecks.Tokens(tokens, 2, VocabularySize, nameof(tokens), "(Bt, L)");

    /// <summary>Checks Step's tokens ((Bt) int64 ids in the vocabulary) and state; returns the state typed.</summary>
    protected TState CheckStep<TState>(Tensor tokens, IDecodingState state) where TState : class, IDecodingState
    {
        DecodingChecks.Tokens(tokens, 1, VocabularySize, nameof(tokens), "(Bt)");
        return DecodingChecks.State<TState>(state, tokens.shape[0], tokens.device, GetType().Name, nameof(state));
    }

    /// <summary>Checks InitialState's batch size.</summary>
    protected static void CheckBatch(long batch)
    {
        if (batch < 1)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"batch: expected at least 1 sequence, got {batch}.");
    }
}
