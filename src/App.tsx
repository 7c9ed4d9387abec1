import { useEffect } from 'react';
import { useChat } from './state/store';
import { Composer } from './ui/Composer';
import { ErrorPanel } from './ui/ErrorPanel';
import { ModelBar } from './ui/ModelBar';
import { NoWebGpu } from './ui/NoWebGpu';
import { NeedsNetwork, OfflineModels } from './ui/OfflineModels';
import { SettingsRow } from './ui/SettingsRow';
import { Transcript } from './ui/Transcript';
import { UpdatePrompt } from './ui/UpdatePrompt';

export function App() {
  const webgpu = useChat((s) => s.webgpu);
  const detectWebGpu = useChat((s) => s.detectWebGpu);

  useEffect(() => {
    void detectWebGpu(navigator.gpu);
  }, [detectWebGpu]);

  return (
    <div className="mx-auto flex h-dvh max-w-3xl flex-col gap-3 p-4">
      <header className="flex items-baseline gap-3">
        <h1 className="text-2xl font-semibold tracking-tight text-teal-800">kvchat</h1>
        <p className="text-sm text-slate-500">A language model running in this tab on WebGPU.</p>
      </header>
      <UpdatePrompt />
      {webgpu === 'unavailable' ? (
        <NoWebGpu />
      ) : (
        <>
          <ModelBar />
          <OfflineModels />
          <SettingsRow />
          <ErrorPanel />
          <NeedsNetwork />
          <Transcript />
          <Composer />
        </>
      )}
    </div>
  );
}
