using HybridSeq.Cli;

return HybridSeqApp.Create().Run(args);
