import { mount } from 'svelte';
import App from './App.svelte';
import { installWebBridge } from './lib/web-bridge';
import './app.css';

installWebBridge();
mount(App, { target: document.getElementById('app')! });
