using HybridSeq.Cli;

HybridSeq.Managed.CpuThreading.ApplyWaitPolicyDefault();  // before TorchSharp loads libtorch and its OpenMP pool
return HybridSeqApp.Create().Run(args);
