import { useEffect, useState } from 'react';
import { useChat } from './state/store';
import { Composer } from './ui/Composer';
import { ErrorPanel } from './ui/ErrorPanel';
import { MemoryMeter } from './ui/MemoryMeter';
import { ModelCatalog } from './ui/ModelCatalog';
import { ModelBar } from './ui/ModelBar';
import { NoWebGpu } from './ui/NoWebGpu';
import { NeedsNetwork, OfflineModels } from './ui/OfflineModels';
import { SettingsPanel } from './ui/SettingsPanel';
import { Sidebar } from './ui/Sidebar';
import { useTheme } from './ui/theme';
import { Transcript } from './ui/Transcript';
import { UpdatePrompt } from './ui/UpdatePrompt';

const THEME_LABELS = { system: 'Theme: system', light: 'Theme: light', dark: 'Theme: dark' };
const headerButton =
  'rounded border border-slate-300 px-2 py-1 text-sm hover:bg-slate-100 dark:border-slate-600 dark:hover:bg-slate-800';

// Three columns on a wide screen (conversations | chat | settings and memory); below `lg` the side
// columns become drawers opened from the header, so the chat keeps the whole width of a phone.
export function App() {
  const webgpu = useChat((s) => s.webgpu);
  const saving = useChat((s) => s.pendingWrites > 0);
  const detectWebGpu = useChat((s) => s.detectWebGpu);
  const init = useChat((s) => s.init);
  const theme = useTheme((s) => s.choice);
  const cycleTheme = useTheme((s) => s.cycle);
  const [sidebarOpen, setSidebarOpen] = useState(false);
  const [settingsOpen, setSettingsOpen] = useState(false);

  useEffect(() => {
    void detectWebGpu(navigator.gpu);
    void init();
  }, [detectWebGpu, init]);

  const chatAvailable = webgpu !== 'unavailable';

  return (
    <div data-testid="app" data-saving={saving} className="flex h-dvh bg-slate-50 text-slate-900 dark:bg-slate-950 dark:text-slate-100">
      {chatAvailable && (
        <aside
          id="conversations"
          className={`${sidebarOpen ? 'fixed inset-y-0 left-0 z-20 flex shadow-xl' : 'hidden'} w-72 shrink-0 flex-col border-r border-slate-200 bg-white lg:static lg:flex lg:shadow-none dark:border-slate-800 dark:bg-slate-900`}
        >
          <Sidebar onOpened={() => setSidebarOpen(false)} />
        </aside>
      )}
      <main className="flex min-w-0 flex-1 flex-col gap-3 p-3 sm:p-4">
        <header className="flex flex-wrap items-center gap-2">
          {chatAvailable && (
            <button
              type="button"
              aria-controls="conversations"
              aria-expanded={sidebarOpen}
              onClick={() => setSidebarOpen((open) => !open)}
              className={`${headerButton} lg:hidden`}
            >
              Chats
            </button>
          )}
          <h1 className="text-2xl font-semibold tracking-tight text-teal-800 dark:text-teal-300">kvchat</h1>
          <p className="hidden text-sm text-slate-500 md:block dark:text-slate-400">A language model running in this tab on WebGPU.</p>
          <div className="ml-auto flex gap-2">
            {chatAvailable && (
              <button
                type="button"
                aria-controls="settings"
                aria-expanded={settingsOpen}
                onClick={() => setSettingsOpen((open) => !open)}
                className={`${headerButton} xl:hidden`}
              >
                Settings
              </button>
            )}
            <button data-testid="theme-toggle" type="button" onClick={cycleTheme} className={headerButton} aria-label={`${THEME_LABELS[theme]} (change)`}>
              {theme === 'dark' ? '☾' : theme === 'light' ? '☀' : '◐'}
            </button>
          </div>
        </header>
        <UpdatePrompt />
        {chatAvailable ? (
          <>
            <ModelBar />
            <ModelCatalog />
            <OfflineModels />
            <ErrorPanel />
            <NeedsNetwork />
            <Transcript />
            <Composer />
          </>
        ) : (
          <NoWebGpu />
        )}
      </main>
      {(sidebarOpen || settingsOpen) && (
        <div
          aria-hidden
          onClick={() => {
            setSidebarOpen(false);
            setSettingsOpen(false);
          }}
          className="fixed inset-0 z-10 bg-black/30 xl:hidden"
        />
      )}
      {chatAvailable && (
        <aside
          id="settings"
          aria-label="Settings and memory"
          className={`${settingsOpen ? 'fixed inset-y-0 right-0 z-20 flex shadow-xl' : 'hidden'} w-full max-w-sm shrink-0 flex-col gap-6 overflow-y-auto border-l border-slate-200 bg-white p-4 xl:static xl:flex xl:shadow-none dark:border-slate-800 dark:bg-slate-900`}
        >
          <div className="flex justify-end xl:hidden">
            <button type="button" onClick={() => setSettingsOpen(false)} className={headerButton}>
              Close
            </button>
          </div>
          <MemoryMeter />
          <SettingsPanel />
        </aside>
      )}
    </div>
  );
}
